#!/usr/bin/env bash
# Installs the Debian packages the RTSP integration tests need (tests/rtsp_server.py runs a real
# gst-rtsp-server under the system python3, which has PyGObject) and the redis-server the Redis deployment tests
# run (TLS, ACL, Sentinel, Cluster), and the headless Chromium the web console tests load pages with. Idempotent: packages already installed are
# skipped, and nothing is fetched when everything is present. Run as root (or with sudo available).
#
#   .ci/install-system-deps.sh          # install what is missing
#   .ci/install-system-deps.sh --check  # exit 1 (listing what is missing) without installing
set -euo pipefail

PACKAGES=(
  python3                          # /usr/bin/python3 runs the RTSP server helper
  python3-gi                       # PyGObject (import gi)
  gir1.2-glib-2.0
  gir1.2-gstreamer-1.0             # Gst typelib
  gir1.2-gst-plugins-base-1.0
  gir1.2-gst-rtsp-server-1.0       # GstRtspServer typelib (+ libgstrtspserver)
  gstreamer1.0-plugins-base        # videotestsrc, videoconvert, videoscale, decodebin, appsrc
  gstreamer1.0-plugins-good        # rtph264pay, qtdemux, rtsp bits
  gstreamer1.0-plugins-bad         # h264parse
  gstreamer1.0-plugins-ugly        # x264enc
  gstreamer1.0-libav               # avdec_mpeg4 (decodes the mp4v test videos)
  redis-server                     # Redis 7 with TLS, Sentinel and Cluster (tests/redis_server.py); tests start
                                   # their own servers on loopback: stop the service apt may start
  openssl                          # test certificates for the TLS tests
  chromium                         # headless browser of the web console tests (tests/system/test_ui_browser.py)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-system-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [[ "${1:-}" == "--check" ]]; then
  echo "install-system-deps: missing: ${missing[*]}" >&2
  exit 1
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-system-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
# the tests start their own redis-servers on free loopback ports; the packaged service is not wanted
if command -v service >/dev/null 2>&1; then $SUDO service redis-server stop >/dev/null 2>&1 || true; fi
