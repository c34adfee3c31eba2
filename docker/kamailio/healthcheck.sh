#!/usr/bin/env bash
# Is Kamailio answering SIP? The probe a monitoring system would send: an
# OPTIONS to the server itself (no user part), which kamailio.cfg's REQINIT
# route answers "200 OK". Sent over TCP, so bash alone can read the answer
# (/dev/tcp); exit status 0 when the first line is "SIP/2.0 200 ...".
#
#   siplab-kamailio-healthcheck [HOST]
#
# HOST defaults to the container's own address: with KAMAILIO_LISTEN_IP=eth0
# Kamailio is not listening on 127.0.0.1. The port is KAMAILIO_TCP_PORT (5060).
set -euo pipefail

host=${1:-$(hostname -i | cut -d' ' -f1)}
port=${KAMAILIO_TCP_PORT:-5060}
id="health-$$-$RANDOM"

exec 3<>"/dev/tcp/$host/$port"
printf '%s\r\n' \
    "OPTIONS sip:$host:$port SIP/2.0" \
    "Via: SIP/2.0/TCP $host:9;branch=z9hG4bK-$id" \
    "Max-Forwards: 70" \
    "From: <sip:healthcheck@$host>;tag=$id" \
    "To: <sip:$host:$port>" \
    "Call-ID: $id@$host" \
    "CSeq: 1 OPTIONS" \
    "Content-Length: 0" \
    "" >&3
IFS= read -r -t 5 status <&3 || { echo "no answer from $host:$port within 5 s" >&2; exit 1; }
status=${status%$'\r'}
# Read the rest of the response, up to its blank line, before closing: closing
# with unread bytes would reset the connection, and Kamailio logs that as an error.
while IFS= read -r -t 5 line <&3 && [[ -n ${line%$'\r'} ]]; do :; done
exec 3<&-
echo "$host:$port: $status"
[[ $status == "SIP/2.0 200 "* ]]
