#!/bin/bash
# Decrypt each recorded session with tshark and print every L2TP control message.
# Writes one line per L2TP control message, for tshark-to-json.mjs:
#   ./tshark-extract.sh | node tshark-to-json.mjs > real-control.json
cd "$(dirname "$0")/../real"
F="frame.number udp.srcport _ws.col.Info udp.payload l2tp.flags l2tp.tunnel l2tp.session l2tp.length l2tp.Ns l2tp.Nr l2tp.avp.mandatory l2tp.avp.hidden l2tp.avp.length l2tp.avp.vendor_id l2tp.avp.type l2tp.avp.message_type l2tp.avp.protocol_version l2tp.avp.protocol_revision l2tp.avp.async_framing_supported l2tp.avp.sync_framing_supported l2tp.avp.analog_access_supported l2tp.avp.digital_access_supported l2tp.avp.firmware_revision l2tp.avp.host_name l2tp.avp.vendor_name l2tp.avp.assigned_tunnel_id l2tp.avp.receive_window_size l2tp.avp.assigned_session_id l2tp.avp.call_serial_number l2tp.avp.analog_bearer_type l2tp.avp.digital_bearer_type l2tp.avp.async_framing_type l2tp.avp.sync_framing_type l2tp.avp.connect_speed l2tp.avp.rx_connect_speed _ws.expert.severity"
FIELDS=(); for x in $F; do FIELDS+=(-e $x); done
for d in */; do
  d=${d%/}
  f=$d/xfrm-state-server.txt
  args=()
  while read -r spi; do
    blk=$(awk -v s="spi $spi" '$0 ~ s {p=1} p && /sel src/ {p=0} p' $f)
    if grep -q 'aead' <<<"$blk"; then
      key=$(awk '/aead/ {print $3}' <<<"$blk")
      args+=(-o "uat:esp_sa:\"IPv4\",\"*\",\"*\",\"$spi\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"$key\",\"NULL\",\"\"")
    else
      enc=$(awk '/enc /{print $2}' <<<"$blk"); ek=$(awk '/enc /{print $3}' <<<"$blk")
      aa=$(awk '/auth-trunc/{print $2}' <<<"$blk"); ak=$(awk '/auth-trunc/{print $3}' <<<"$blk")
      case $enc in "cbc(aes)") e="AES-CBC [RFC3602]";; "cbc(des3_ede)") e="TripleDES-CBC [RFC2451]";; esac
      case $aa in "hmac(sha1)") a="HMAC-SHA-1-96 [RFC2404]";; "hmac(md5)") a="HMAC-MD5-96 [RFC2403]";; esac
      args+=(-o "uat:esp_sa:\"IPv4\",\"*\",\"*\",\"$spi\",\"$e\",\"$ek\",\"$a\",\"$ak\"")
    fi
  done < <(grep -o 'spi 0x[0-9a-f]*' $f | awk '{print $2}')
  tshark -r $d/session.pcap -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE "${args[@]}" \
    -Y "l2tp.type == 1" -T fields -E separator="|" -E occurrence=a -E aggregator=";" "${FIELDS[@]}" 2>/dev/null | sed "s/^/$d|/"
done
