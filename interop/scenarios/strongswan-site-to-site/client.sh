# strongSwan (kernel IPsec, IKEv1 tunnel mode) as the other gateway of a
# site-to-site link: its LAN 10.2.0.0/24 (a dummy device holding 10.2.0.1)
# to the server's 192.168.42.1/32. Ping across, then a continuous ping while
# strongSwan rekeys the CHILD_SA itself (lifetime 70 s, margin 25 s: a new
# Quick Mode 45 s after the first), then down: the server must see the site go.
. /interop/guest/lib.sh
LAN_ADDR=10.2.0.1
REMOTE=192.168.42.1
CONN=SITE

spis() { ip xfrm state | grep -o 'spi 0x[0-9a-f]*' | sort | tr '\n' ' '; }
# How many server log messages match: the number after "ok", or -1 if the hook failed.
server_count() { local a; a=$(hook count-log "$1") && echo "${a#ok }" || echo -1; }

step lan
ip link add lan0 type dummy || fail "no dummy device"
ip addr add "$LAN_ADDR/24" dev lan0
ip link set lan0 up

step ipsec-up
# lib.sh's logging setup and ipsec.secrets (PSK); the connection is a tunnel, ours.
PSK=interop-site-to-site-key strongswan_config
cat >/etc/ipsec.conf <<CONF
config setup
conn $CONN
  keyexchange=ikev1
  authby=secret
  type=tunnel
  left=%defaultroute
  leftsubnet=10.2.0.0/24
  right=$SERVER
  rightid=%any
  rightsubnet=$REMOTE/32
  ike=aes256-sha2_256-modp2048!
  esp=aes256-sha2_256!
  lifetime=70s
  margintime=25s
  rekeyfuzz=0%
  keyingtries=1
  auto=add
CONF
ipsec start >/dev/null 2>&1 || fail "ipsec start failed"
wait_until 60 test -S /var/run/charon.ctl || fail "charon did not start [infrastructure: the guest too slow for ipsec starter's 10 s]"
xfrm_watch
timeout 60 ipsec up "$CONN" | tee /tmp/ipsec-up.out
grep -q "established successfully" /tmp/ipsec-up.out || fail "ipsec up $CONN failed: $(tail -n 3 /tmp/ipsec-up.out | tr '\n' ' ')"
ip xfrm state | grep -q "mode tunnel" || fail "no tunnel-mode SA in the kernel"
xfrm_dump "after ipsec-up"
[ "$(server_count 'site SA pair up')" = 1 ] || fail "the server did not log exactly one 'site SA pair up': $(hook count-log 'site SA pair up')"

step ping
ping -c 10 -i 0.3 -W 2 -I "$LAN_ADDR" "$REMOTE" >"$R/ping.txt" 2>&1
grep -q " 0% packet loss" "$R/ping.txt" || fail "ping across the site link: $(tail -n 2 "$R/ping.txt" | tr '\n' ' ')"
note "ping $LAN_ADDR to $REMOTE: 10/10"

step rekey-under-ping
# 70 s of pings every 0.5 s; strongSwan's rekey falls ~40 s into them.
before=$(spis)
ping -c 140 -i 0.5 -W 2 -I "$LAN_ADDR" "$REMOTE" >"$R/ping-rekey.txt" 2>&1 &
pinger=$!
rekeyed=no
for _ in $(seq 1 150); do
  if [ "$(server_count 'site SA pair up')" -ge 2 ] && [ "$(spis)" != "$before" ]; then rekeyed=yes; break; fi
  sleep 0.5
done
[ $rekeyed = yes ] || { kill "$pinger"; fail "no new site SA pair: strongSwan did not rekey, or the server did not take it ($(server_count 'site SA pair up') 'site SA pair up')"; }
note "CHILD_SA rekeyed at t=$(now): SPIs $before-> $(spis)"
xfrm_dump "after rekey"
wait "$pinger"
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$R/ping-rekey.txt")
note "ping under the rekey: ${received:-0}/140 received"
[ "${received:-0}" -ge 139 ] || fail "ping under the rekey: ${received:-0} of 140 answered (at most 1 may be lost)"
n=$(grep -c "CHILD_SA $CONN{[0-9]*} established" /var/log/charon.log)
[ "$n" -ge 2 ] || fail "charon.log shows $n CHILD_SAs established, expected the first and its rekey"

[ "$(server_count '^site down$')" = 0 ] || fail "the server took the site down during the rekey"

step ipsec-down
xfrm_dump "before ipsec-down"
ipsec down "$CONN" >/dev/null 2>&1
wait_until 10 sh -c "! ip xfrm state | grep -q 'proto esp'" || fail "ESP SAs still in the kernel after ipsec down"
hook wait-log 20 '^site down$' >/dev/null || fail "the server did not log the site going down after strongSwan's Deletes"
ipsec stop >/dev/null 2>&1
done_ok
