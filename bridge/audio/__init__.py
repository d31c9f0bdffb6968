"""Preview sound: a GM SoundFont kit played from the engine's notes (in a process of its own), audio out, offline render to WAV."""
