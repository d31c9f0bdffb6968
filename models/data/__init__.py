"""MIDI folder or TFRecord -> dataset on disk: sources, preprocessing, the dataset file format, splits and windows, NoteSequence import/export."""
