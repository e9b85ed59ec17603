#!/bin/sh
# Started by the image's /sbin/interop-init (PID 1) once the two 9p shares
# are mounted: /interop (read-only: these scripts and the scenario) and
# /results (writable, one per VM). Brings up the network, runs the
# scenario's client.sh under a timeout, copies the client logs out, writes
# the exit code and powers off. Lines starting INTEROP- on the serial
# console are what the harness follows.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
exec </dev/null

param() { sed -n "s/.*interop\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
VM=$(param vm)
TIMEOUT=$(param timeout)
ADDR=$(param addr)
GW=$(param gw)
export VM TIMEOUT
: "${VM:=1}" "${TIMEOUT:=120}" "${ADDR:=10.0.2.15/24}" "${GW:=10.0.2.2}"

echo "INTEROP-BOOTED vm=$VM uptime=$(cut -d' ' -f1 /proc/uptime)"

hostname "client$VM"
# One modprobe for all (a process start costs ~0.2 s under TCG).
modprobe -qa virtio_net virtio_rng esp4 xfrm_user xfrm4_tunnel l2tp_ppp ppp_generic pppox ppp_async \
  authenc echainiv cbc hmac sha1_generic sha256_generic md5 des_generic des3_ede gcm ccm aes_generic 2>/dev/null
[ -c /dev/ppp ] || mknod /dev/ppp c 108 0
mkdir -p /run/xl2tpd /run/pluto /run/lock /var/log
ip link set lo up
ip link set eth0 up
ip addr add "$ADDR" dev eth0
ip route add default via "$GW"

export SERVER="$GW"
export R=/results
cd /interop/scenario || exit 1
echo "INTEROP-READY vm=$VM uptime=$(cut -d' ' -f1 /proc/uptime)"
timeout -s TERM "$TIMEOUT" /bin/bash /interop/scenario/client.sh >"$R/client.out" 2>&1
rc=$?
[ "$rc" = 124 ] && echo "client.sh: timed out after $TIMEOUT s" >>"$R/client.out"

# Logs of the client stack, whatever happened.
cp /var/log/charon.log "$R/" 2>/dev/null
cp /var/log/pluto.log "$R/" 2>/dev/null
cp /var/log/xl2tpd.log "$R/" 2>/dev/null
cp /var/log/pppd.log "$R/" 2>/dev/null
dmesg >"$R/dmesg.txt" 2>/dev/null
echo "$rc" >"$R/exit"
sync
echo "INTEROP-EXIT $rc uptime=$(cut -d' ' -f1 /proc/uptime)"
echo o >/proc/sysrq-trigger
sleep 10
