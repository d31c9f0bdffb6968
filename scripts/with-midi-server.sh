#!/usr/bin/env bash
# Run a command with a MIDI server available: an ALSA sequencer if the machine has one,
# a JACK server that is already running, or a JACK server with the dummy backend that this
# script starts and stops. JACK_PERIOD (frames, default 256) sets its period.
set -u
started=""
if [ -e /proc/asound/seq ] || [ -e /dev/snd/seq ]; then
    :   # ALSA sequencer present: rtmidi's default API works.
elif command -v jack_lsp >/dev/null 2>&1 && jack_lsp >/dev/null 2>&1; then
    export GROOVEBRIDGE_MIDI_API=${GROOVEBRIDGE_MIDI_API:-jack}
elif command -v jackd >/dev/null 2>&1; then
    jackd --no-realtime -d dummy -r 48000 -p "${JACK_PERIOD:-256}" >/tmp/groovebridge-jackd.log 2>&1 &
    started=$!
    for _ in $(seq 50); do jack_lsp >/dev/null 2>&1 && break; sleep 0.1; done
    jack_lsp >/dev/null 2>&1 || { echo "jackd did not start, see /tmp/groovebridge-jackd.log" >&2; }
    export GROOVEBRIDGE_MIDI_API=${GROOVEBRIDGE_MIDI_API:-jack}
else
    echo "no MIDI server: install jackd2 (apt-get install jackd2); MIDI integration tests will be skipped" >&2
fi
"$@"
rc=$?
if [ -n "$started" ]; then kill "$started" 2>/dev/null; wait "$started" 2>/dev/null; fi
exit $rc
