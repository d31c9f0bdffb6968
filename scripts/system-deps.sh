#!/usr/bin/env bash
# Install the system packages GrooveBridge needs for a purpose ("test" or "run") when they are
# missing: with apt-get as root or with password-less sudo; otherwise print the one command to
# run and carry on (the tests that need a missing part skip, with the reason). Never fails.
#   scripts/system-deps.sh test|run
set -u
purpose=${1:-test}
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
if [ "$purpose" = run ]; then pkgs="jackd2 $qt"; else pkgs="jackd2 $qt xvfb xauth"; fi
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
