#!/usr/bin/env bash
# Add a broker user for a device (its device id) or the host (edgeprof-host) with a random password,
# and write the credentials file that `edgeprof-agent run --broker-credentials` / `edgeprof optimize
# --broker-credentials` read. Usage: add-user.sh PASSWORD_FILE USER [CREDENTIALS_FILE]
set -euo pipefail
passwd_file="$1"
user="$2"
creds="${3:-$user.credentials}"
password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
if [ -f "$passwd_file" ]; then
  mosquitto_passwd -b "$passwd_file" "$user" "$password"
else
  mosquitto_passwd -c -b "$passwd_file" "$user" "$password"
fi
umask 077
printf 'username=%s\npassword=%s\n' "$user" "$password" > "$creds"
echo "added $user to $passwd_file; its credentials are in $creds (mode 600): copy them to the device"
echo "reload the broker to apply: systemctl reload mosquitto (or kill -HUP its pid)"
