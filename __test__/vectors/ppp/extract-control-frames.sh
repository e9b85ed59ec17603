#!/bin/sh
# Rebuilds the frame blocks of real-control-frames.txt (everything after its
# header comment). Run from __test__/vectors/real/ with tshark 4.0:
#   for d in strongswan-*; do sh ../ppp/extract-control-frames.sh $d; done
# Prints, for each PPP frame that is not IPv4/IPv6, a comment line, the
# 6-byte L2TP data header and the PPP frame; stops on a bad ESP ICV.
set -e
d=$1
# One esp_sa line per SA of the session's xfrm-state-server.txt.
awk '
  /proto esp spi/ {spi=$4}
  /auth-trunc hmac\(sha1\)/ {auth="HMAC-SHA-1-96 [RFC2404]"; ak=$3}
  /auth-trunc hmac\(md5\)/ {auth="HMAC-MD5-96 [RFC2403]"; ak=$3}
  /enc cbc\(aes\)/ {enc="AES-CBC [RFC3602]"; ek=$3}
  /enc cbc\(des3_ede\)/ {enc="TripleDES-CBC [RFC2451]"; ek=$3}
  /aead rfc4106/ {enc="AES-GCM with 16 octet ICV [RFC4106]"; ek=$3; auth="NULL"; ak=""}
  /encap type/ {printf "uat:esp_sa:\"IPv4\",\"*\",\"*\",\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"\n", spi, enc, ek, auth, ak}
' "$d/xfrm-state-server.txt" > /tmp/ppp-esp-sa.txt
set --
while IFS= read -r l; do set -- "$@" -o "$l"; done < /tmp/ppp-esp-sa.txt
# Fields with every occurrence joined: the outer UDP port tells the direction
# (the server sends from 4500), the last udp.payload is the inner L2TP datagram.
tshark -r "$d/session.pcap" -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE "$@" \
  -Y 'l2tp && ppp && !(ppp.protocol in {0x0021,0x0057})' -T fields -E separator='|' -E occurrence=a -E aggregator=/ \
  -e frame.number -e udp.srcport -e esp.icv_good -e _ws.col.Info -e udp.payload 2>/dev/null |
while IFS='|' read -r frame ports icv info payload; do
  [ "$icv" = 1 ] || { echo "bad ICV in $d frame $frame" >&2; exit 1; }
  case "$ports" in 4500*) dir="server -> client";; *) dir="client -> server";; esac
  inner=$(printf '%s' "$payload" | sed 's/.*[\\/]//')
  printf '\n# %s frame %s (%s): %s\nl2tp %s\nppp %s\n' "$d" "$frame" "$dir" "$info" \
    "$(printf '%s' "$inner" | cut -c1-12)" "$(printf '%s' "$inner" | cut -c13-)"
done
