#!/usr/bin/env bash
# Install the edgeprof agent as a systemd service on a fresh device (Jetson or x86), in one command.
# Safe to run again: the venv is reused (and upgraded), the user and the device key are kept.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: sudo scripts/install-agent.sh --broker URL --device-id ID --host-key FILE [options]

Installs the edgeprof agent as the systemd service edgeprof-agent:
  1. python3 -m venv VENV (default /opt/edgeprof), pip install SOURCE[agent] into it
  2. useradd --system edgeprof (home /var/lib/edgeprof, no login), added to the video/render groups
     where they exist (GPU access on Jetson and x86)
  3. edgeprof-agent install: /etc/edgeprof/agent.json, /etc/systemd/system/edgeprof-agent.service,
     the device key pair in /var/lib/edgeprof (created if missing, never replaced), the host's key
  4. systemctl daemon-reload && systemctl enable --now edgeprof-agent
It ends by printing the line to run on the host to enrol this device.

required:
  --broker URL             mqtt://HOST:PORT or mqtts://HOST:PORT (no password in it: --credentials-file)
  --device-id ID           this device's id
  --host-key FILE          the host's public key (host.key.pub from `edgeprof keygen`)
options:
  --source SPEC            what pip installs: a wheel, a source folder or a version (default: edgeprof);
                           [agent] is appended unless SPEC already names extras
  --extras LIST            extras to install (default: agent; e.g. agent,agent-jetson)
  --venv DIR               virtual environment (default: /opt/edgeprof)
  --python PATH            interpreter for the venv (default: python3; 3.8 or newer)
  --credentials-file FILE  username=/password= file for the broker (copied to /etc/edgeprof)
  --ca-file FILE           CA certificate of the broker (TLS)
  --cert-file FILE         client certificate; --key-file FILE its private key
  --user NAME              service user (default: edgeprof)
  --no-start               write everything but do not enable or start the service
  -h, --help               this text
EOF
}

die() { echo "install-agent.sh: error: $*" >&2; exit 2; }

broker="" device_id="" host_key="" source_spec="edgeprof" extras="agent" venv="/opt/edgeprof"
python="python3" user="edgeprof" start=1
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --broker) broker="${2:?--broker needs a URL}"; shift 2 ;;
    --device-id) device_id="${2:?--device-id needs an id}"; shift 2 ;;
    --host-key) host_key="${2:?--host-key needs a file}"; shift 2 ;;
    --source) source_spec="${2:?--source needs a pip spec}"; shift 2 ;;
    --extras) extras="${2:?--extras needs a list}"; shift 2 ;;
    --venv) venv="${2:?--venv needs a folder}"; shift 2 ;;
    --python) python="${2:?--python needs a path}"; shift 2 ;;
    --user) user="${2:?--user needs a name}"; shift 2 ;;
    --credentials-file|--ca-file|--cert-file|--key-file)
      [ -r "${2:?$1 needs a file}" ] || die "$1 $2: no such readable file"
      passthrough+=("$1" "$(readlink -f "$2")"); shift 2 ;;
    --no-start) start=0; shift ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[ -n "$broker" ] || die "--broker URL is required (see --help)"
[ -n "$device_id" ] || die "--device-id ID is required (see --help)"
[ -n "$host_key" ] || die "--host-key FILE is required (see --help)"
[ -r "$host_key" ] || die "--host-key $host_key: no such readable file (copy host.key.pub from the host)"
host_key="$(readlink -f "$host_key")"
[ "$(id -u)" -eq 0 ] || die "run as root (sudo): it creates a user and a systemd service"
command -v systemctl >/dev/null || die "systemctl not found: this script needs systemd"

"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else "the agent needs Python 3.8 or newer")'
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  "$python" -m venv "$venv" || die "python3 -m venv failed: install the venv module (apt-get install python3-venv)"
fi
case "$source_spec" in
  *\[*) spec="$source_spec" ;;
  *) spec="$source_spec[$extras]" ;;
esac
echo "== pip install $spec"
"$venv/bin/python" -m pip install -q --upgrade "$spec"

if ! id -u "$user" >/dev/null 2>&1; then
  echo "== creating the system user $user"
  useradd --system --home-dir /var/lib/edgeprof --no-create-home --shell /usr/sbin/nologin "$user"
fi
for group in video render; do
  if getent group "$group" >/dev/null && ! id -nG "$user" | tr ' ' '\n' | grep -qx "$group"; then
    usermod -aG "$group" "$user"
  fi
done

echo "== edgeprof-agent install"
"$venv/bin/edgeprof-agent" install --broker "$broker" --device-id "$device_id" --host-key "$host_key" \
  --user "$user" --exec "$venv/bin/edgeprof-agent" ${passthrough[@]+"${passthrough[@]}"}

if [ "$start" -eq 1 ]; then
  echo "== starting edgeprof-agent"
  systemctl daemon-reload
  systemctl enable edgeprof-agent
  systemctl restart edgeprof-agent  # a re-run picks up the new package and settings
  systemctl --no-pager --lines=5 status edgeprof-agent || true
else
  echo "== not started (--no-start): systemctl daemon-reload && systemctl enable --now edgeprof-agent"
fi
