#!/usr/bin/env bash
# Install the system packages GrooveBridge needs for a purpose ("test" or "run") when they are
# missing: with apt-get as root or with password-less sudo; otherwise print the one command to
# run and carry on (the tests that need a missing part skip, with the reason). Never fails.
#   scripts/system-deps.sh test|run
set -u
purpose=${1:-test}
# The drum synth's wheel depends on pyaudio, which does not build without PortAudio's headers and
# is never used: install the synth alone, on every platform (pyproject.toml, extra "sound").
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import tinysoundfont" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q --no-deps -c constraints.txt "tinysoundfont>=0.3.7" >/dev/null 2>&1 \
        || echo "GrooveBridge: could not install the drum synth (pip install --no-deps tinysoundfont); preview sound is off"
fi
case "$(uname -s)" in
Darwin)
    echo "macOS: no JACK needed (GrooveBridge uses CoreMIDI virtual ports); Qt comes from PyPI."
    exit 0 ;;
Linux) ;;
*)
    echo "$(uname -s): install a MIDI server (JACK) yourself if you want MIDI; continuing."
    exit 0 ;;
esac
# jackd2: MIDI server (dummy backend, no sound card needed). The libraries Qt's offscreen and
# xcb platforms load. xvfb + xauth: a real X server for GUI tests and screenshots.
qt="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"
# Preview sound: fluid-soundfont-gm (FluidR3_GM.sf2, a GM SoundFont under the MIT license) and
# libportaudio2 (sounddevice's PortAudio, for machines without JACK).
sound="fluid-soundfont-gm libportaudio2"
if [ "$purpose" = run ]; then pkgs="jackd2 $qt $sound"; else pkgs="jackd2 $qt $sound xvfb xauth"; fi
command -v dpkg-query >/dev/null 2>&1 || { echo "not a Debian/Ubuntu system: make sure these are installed: $pkgs"; exit 0; }
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else
    echo "GrooveBridge: missing system packages:$missing"
    echo "  install them with: sudo apt-get install -y --no-install-recommends$missing"
    echo "  (continuing: the tests that need them are skipped, each with its reason)"
    exit 0
fi
echo "GrooveBridge: installing system packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null 2>&1 || true
if ! $sudo apt-get install -y -qq --no-install-recommends $missing >/tmp/groovebridge-apt.log 2>&1; then
    echo "GrooveBridge: apt-get could not install$missing (see /tmp/groovebridge-apt.log); continuing, the tests that need them are skipped"
fi
exit 0
