# Helpers for a scenario's client.sh (bash, sourced). A scenario sets the
# variables below it needs, then calls the steps:
#
#   . /interop/guest/lib.sh
#   IKE=aes256-sha1-modp2048 ESP=aes256-sha1
#   ipsec_up; l2tp_up; ping_server 10; iperf_both 10; l2tp_down; ipsec_down
#
# Every step prints "INTEROP-STEP <name>" on the console (the harness names
# the step a failure happened in) and fails the scenario with a message.
#
# Variables (defaults in brackets):
#   SERVER   the server, from init.sh [10.0.2.2]     INNER   its PPP address [192.168.42.1]
#   PSK      pre-shared key                          AUTHBY  secret | rsasig [secret]
#   IKE, ESP strongSwan/libreswan proposal strings (empty: the stack's default)
#   RETRANSMIT_TRIES  strongSwan: give up after this many retransmissions (2 s apart, growing)
#   STRONGSWAN_EXTRA, LIBRESWAN_EXTRA, PPP_EXTRA   more config lines (newline-separated)
#   IKELIFETIME, KEYLIFE, MARGIN   lifetimes ("8m"; strongSwan syntax; libreswan gets seconds)
#   PPP_USER, PPP_PASSWORD, PPP_AUTH mschapv2 | chap | pap [mschapv2]
#   RIGHTID  the server's IKE ID as the client checks it [%any; libreswan: the server address]
#   CERT, KEY, CA   PEM files for AUTHBY=rsasig (strongSwan); CERT_ID the leftid (a DN string)
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
: "${SERVER:=10.0.2.2}" "${INNER:=192.168.42.1}" "${R:=/results}" "${VM:=1}"
: "${PSK:=}" "${AUTHBY:=secret}" "${IKE:=}" "${ESP:=}" "${IKELIFETIME:=}" "${KEYLIFE:=}" "${MARGIN:=}"
: "${PPP_USER:=alice}" "${PPP_PASSWORD:=}" "${PPP_AUTH:=mschapv2}" "${RIGHTID:=}"
: "${CERT:=}" "${KEY:=}" "${CA:=}" "${CERT_ID:=}"
CONN=L2TP
STEP=start

now() { cut -d' ' -f1 /proc/uptime; }

step() {
  STEP=$1
  echo "INTEROP-STEP $STEP t=$(now)" | tee -a "$R/steps" >/dev/console
  echo "=== step $STEP ($(now) s)"
}

# fail MESSAGE: the scenario fails in the current step.
fail() {
  echo "INTEROP-FAIL step=$STEP: $*" | tee -a "$R/steps" >/dev/console
  echo "FAIL in step $STEP: $*"
  xfrm_dump "at-failure"
  exit 1
}

note() { echo "INTEROP-NOTE $*" | tee -a "$R/steps" >/dev/console; }

# wait_until SECONDS COMMAND...: polls every 0.2 s.
wait_until() {
  local limit=$1
  shift
  local deadline
  deadline=$(($(date +%s) + limit))
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# hook COMMAND...: asks the harness (through the namespace's loopback).
# Answers one line: "ok ..." or "error ...".
hook() {
  local answer
  exec 3<>"/dev/tcp/$SERVER/7777" || return 1
  printf '%s\n' "vm=$VM $*" >&3
  IFS= read -r -t 60 answer <&3
  exec 3<&-
  echo "$answer"
  case $answer in ok*) return 0 ;; *) return 1 ;; esac
}

# The ESP keys the kernel holds, for the harness to decrypt the capture.
xfrm_dump() {
  { echo "# $1 t=$(now)"; ip xfrm state; } >>"$R/xfrm.txt" 2>&1
}

# Rekeys make SAs that live between two steps: a watcher dumps the keys
# whenever the set of SPIs changes (every second), for as long as the client runs.
xfrm_watch() {
  [ -n "${XFRM_WATCH:-}" ] && return
  (
    last=
    while sleep 1; do
      spis=$(ip xfrm state 2>/dev/null | grep -o 'spi 0x[0-9a-f]*' | sort | tr '\n' ' ')
      if [ -n "$spis" ] && [ "$spis" != "$last" ]; then
        xfrm_dump "watch"
        last=$spis
      fi
    done
  ) &
  XFRM_WATCH=$!
}

# --- IPsec -------------------------------------------------------------------

STACK=none
if command -v charon >/dev/null 2>&1 || [ -x /usr/lib/ipsec/charon ]; then STACK=strongswan; fi
if [ -x /usr/libexec/ipsec/pluto ] || [ -x /usr/lib/ipsec/pluto ]; then STACK=libreswan; fi

# strongSwan lifetimes are "8m"/"30s"; libreswan wants them too ("8m" works
# for ikelifetime/salifetime), so the same strings serve both.
strongswan_config() {
  cat >/etc/strongswan.d/charon-logging.conf <<EOF
charon {
  filelog {
    charon {
      path = /var/log/charon.log
      time_format = %T
      default = 1
      ike = 2
      knl = 2
      cfg = 2
      flush_line = yes
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
EOF
  # Retransmissions: strongSwan's default gives up after ~165 s; a refusal test wants it sooner.
  if [ -n "${RETRANSMIT_TRIES:-}" ]; then
    printf 'charon {\n  retransmit_tries = %s\n  retransmit_timeout = 2\n  retransmit_base = 1.4\n}\n' "$RETRANSMIT_TRIES" >/etc/strongswan.d/interop.conf
  fi
  {
    echo "config setup"
    echo "conn $CONN"
    echo "  keyexchange=ikev1"
    echo "  type=transport"
    echo "  left=%defaultroute"
    echo "  leftprotoport=17/1701"
    echo "  right=$SERVER"
    echo "  rightid=\"${RIGHTID:-%any}\""
    echo "  rightprotoport=17/1701"
    echo "  keyingtries=1"
    echo "  auto=add"
    if [ "$AUTHBY" = rsasig ]; then
      echo "  authby=pubkey"
      echo "  leftcert=client.pem"
      # Unset: strongSwan sends the certificate's subject DN as it is encoded there.
      [ -n "${CERT_ID:-}" ] && echo "  leftid=\"$CERT_ID\""
    else
      echo "  authby=secret"
    fi
    [ -n "$IKE" ] && echo "  ike=$IKE"
    [ -n "$ESP" ] && echo "  esp=$ESP"
    [ -n "$IKELIFETIME" ] && echo "  ikelifetime=$IKELIFETIME"
    [ -n "$KEYLIFE" ] && echo "  keylife=$KEYLIFE"
    [ -n "$MARGIN" ] && echo "  rekeymargin=$MARGIN" && echo "  rekeyfuzz=0%"
    [ -n "${STRONGSWAN_EXTRA:-}" ] && printf '%s\n' "$STRONGSWAN_EXTRA" | sed 's/^ */  /'
  } >/etc/ipsec.conf
  if [ "$AUTHBY" = rsasig ]; then
    cp "$CERT" /etc/ipsec.d/certs/client.pem
    cp "$KEY" /etc/ipsec.d/private/client.key
    cp "$CA" /etc/ipsec.d/cacerts/ca.pem
    echo ": RSA client.key" >/etc/ipsec.secrets
  else
    printf ': PSK "%s"\n' "$PSK" >/etc/ipsec.secrets
  fi
  chmod 600 /etc/ipsec.secrets
}

libreswan_config() {
  {
    echo "config setup"
    echo "  logfile=/var/log/pluto.log"
    echo "  logtime=yes"
    echo "  plutodebug=none"
    echo "  ikev1-policy=accept"
    echo "conn $CONN"
    echo "  ikev2=no"
    echo "  authby=secret"
    echo "  pfs=no"
    echo "  type=transport"
    echo "  left=%defaultroute"
    echo "  leftprotoport=17/1701"
    echo "  right=$SERVER"
    echo "  rightid=${RIGHTID:-$SERVER}"
    echo "  rightprotoport=17/1701"
    echo "  keyingtries=1"
    echo "  auto=add"
    [ -n "$IKE" ] && echo "  ike=$IKE"
    [ -n "$ESP" ] && echo "  phase2alg=$ESP"
    [ -n "$IKELIFETIME" ] && echo "  ikelifetime=$IKELIFETIME"
    [ -n "$KEYLIFE" ] && echo "  salifetime=$KEYLIFE"
    [ -n "$MARGIN" ] && echo "  rekeymargin=$MARGIN" && echo "  rekeyfuzz=0%"
    [ -n "${LIBRESWAN_EXTRA:-}" ] && printf '%s\n' "$LIBRESWAN_EXTRA" | sed 's/^ */  /'
  } >/etc/ipsec.conf
  printf '%%any %%any : PSK "%s"\n' "$PSK" >/etc/ipsec.secrets
  chmod 600 /etc/ipsec.secrets
}

ipsec_start() {
  case $STACK in
    strongswan)
      strongswan_config
      ipsec start >/dev/null 2>&1 || fail "ipsec start failed"
      wait_until 60 test -S /var/run/charon.ctl || fail "charon did not start [infrastructure: the guest too slow for ipsec starter's 10 s]"
      ;;
    libreswan)
      libreswan_config
      ipsec initnss >/dev/null 2>&1
      ipsec pluto --config /etc/ipsec.conf || fail "pluto did not start"
      wait_until 60 ipsec whack --status || fail "pluto does not answer [infrastructure: the guest too slow]"
      ipsec auto --add "$CONN" || fail "ipsec auto --add $CONN failed"
      ;;
    *) fail "no IPsec stack in this image" ;;
  esac
}

# ipsec_up: Main Mode + Quick Mode; the transport SA to the server's 1701.
ipsec_up() {
  step ipsec-up
  [ "${IPSEC_STARTED:-}" = yes ] || { ipsec_start; IPSEC_STARTED=yes; }
  xfrm_watch
  # `ipsec up` (stroke) may exit 0 when the negotiation failed: trust its words and the kernel.
  case $STACK in
    strongswan) timeout 60 ipsec up "$CONN" | tee /tmp/ipsec-up.out; grep -q "established successfully" /tmp/ipsec-up.out || fail "ipsec up $CONN failed: $(tail -n 3 /tmp/ipsec-up.out | tr '\n' ' ')" ;;
    libreswan) timeout 60 ipsec auto --up "$CONN" || fail "ipsec auto --up $CONN failed" ;;
  esac
  wait_until 5 sh -c "ip xfrm state | grep -q 'proto esp'" || fail "no ESP SA in the kernel"
  xfrm_dump "after ipsec-up"
}

# ipsec_refused: the IPsec negotiation must fail (wrong PSK, no proposal).
ipsec_refused() {
  step ipsec-refused
  [ "${IPSEC_STARTED:-}" = yes ] || { ipsec_start; IPSEC_STARTED=yes; }
  case $STACK in
    strongswan) timeout 60 ipsec up "$CONN" | tee /tmp/ipsec-up.out; if grep -q "established successfully" /tmp/ipsec-up.out; then fail "ipsec up succeeded but should have been refused"; fi ;;
    libreswan) if timeout 60 ipsec auto --up "$CONN"; then fail "ipsec up succeeded but should have been refused"; fi ;;
  esac
  if ip xfrm state | grep -q 'proto esp'; then fail "an ESP SA was installed"; fi
}

ipsec_down() {
  step ipsec-down
  xfrm_dump "before ipsec-down"
  case $STACK in
    strongswan) ipsec down "$CONN" >/dev/null 2>&1 ;;
    libreswan) ipsec auto --down "$CONN" >/dev/null 2>&1 ;;
  esac
  wait_until 10 sh -c "! ip xfrm state | grep -q 'proto esp'" || fail "ESP SAs still in the kernel after ipsec down"
}

ipsec_stop() {
  case $STACK in
    strongswan) ipsec stop >/dev/null 2>&1 ;;
    libreswan) ipsec whack --shutdown >/dev/null 2>&1 ;;
  esac
  IPSEC_STARTED=
}

# --- L2TP and PPP ----------------------------------------------------------------

l2tp_config() {
  mkdir -p /etc/xl2tpd /etc/ppp /var/run/xl2tpd
  cat >/etc/xl2tpd/xl2tpd.conf <<EOF
[global]
port = 1701
debug tunnel = yes
debug state = yes

[lac vpn]
lns = $SERVER
ppp debug = yes
pppoptfile = /etc/ppp/options.l2tpd.client
length bit = yes
tunnel rws = 8
EOF
  {
    echo "ipcp-accept-local"
    echo "ipcp-accept-remote"
    echo "noipdefault"
    echo "nodefaultroute"
    echo "noauth"
    echo "noccp"
    echo "refuse-eap"
    echo "mtu ${PPP_MTU:-1400}"
    echo "mru ${PPP_MTU:-1400}"
    echo "debug"
    echo "logfile /var/log/pppd.log"
    echo "name $PPP_USER"
    echo "password $PPP_PASSWORD"
    echo "maxfail 1"
    case $PPP_AUTH in
      mschapv2) echo "refuse-pap"; echo "refuse-chap"; echo "refuse-mschap" ;;
      chap) echo "refuse-pap"; echo "refuse-mschap"; echo "refuse-mschap-v2" ;;
      pap) echo "refuse-chap"; echo "refuse-mschap"; echo "refuse-mschap-v2" ;;
    esac
    [ -n "${PPP_EXTRA:-}" ] && printf '%s\n' "$PPP_EXTRA"
  } >/etc/ppp/options.l2tpd.client
  chmod 600 /etc/ppp/options.l2tpd.client
}

ppp_has_address() { ip -4 addr show dev ppp0 2>/dev/null | grep -q "inet "; }
ppp_gone() { ! ip link show dev ppp0 >/dev/null 2>&1; }

xl2tpd_start() {
  l2tp_config
  xl2tpd -D -c /etc/xl2tpd/xl2tpd.conf -p /var/run/xl2tpd.pid -C /var/run/xl2tpd/l2tp-control >>/var/log/xl2tpd.log 2>&1 &
  wait_until 30 test -p /var/run/xl2tpd/l2tp-control || fail "xl2tpd did not start [infrastructure: the guest too slow]"
  XL2TPD_STARTED=yes
}

# l2tp_up: the L2TP tunnel and session, PPP with the configured method, IPCP.
l2tp_up() {
  step l2tp-ppp-up
  [ "${XL2TPD_STARTED:-}" = yes ] || xl2tpd_start
  echo "c vpn" >/var/run/xl2tpd/l2tp-control
  wait_until "${PPP_WAIT:-40}" ppp_has_address || fail "ppp0 got no address"
  LOCAL=$(ip -4 addr show dev ppp0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p')
  PEER=$(ip -4 addr show dev ppp0 | sed -n 's/.*peer \([0-9.]*\).*/\1/p')
  note "ppp0 $LOCAL peer $PEER"
  [ "$PEER" = "$INNER" ] || fail "PPP peer address is $PEER, expected $INNER"
}

# l2tp_refused: PPP must not come up (wrong password); pppd gives up.
l2tp_refused() {
  step l2tp-refused
  [ "${XL2TPD_STARTED:-}" = yes ] || xl2tpd_start
  echo "c vpn" >/var/run/xl2tpd/l2tp-control
  if wait_until "${PPP_WAIT:-25}" ppp_has_address; then fail "PPP came up with wrong credentials"; fi
  grep -Eq "(authentication failed|Authentication failed|Failed|failure)" /var/log/pppd.log || fail "pppd did not report an authentication failure"
}

l2tp_down() {
  step l2tp-down
  echo "d vpn" >/var/run/xl2tpd/l2tp-control
  wait_until 15 ppp_gone || fail "ppp0 still there after disconnect"
}

# --- traffic -----------------------------------------------------------------

# ping_server COUNT [MAX_LOST] [INTERVAL]
ping_server() {
  local count=$1 lost=${2:-0} interval=${3:-0.2}
  step "ping-$count"
  ping -c "$count" -i "$interval" -W 2 "$INNER" >"$R/ping-$count.txt" 2>&1
  local received
  received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$R/ping-$count.txt")
  note "ping $INNER: ${received:-0}/$count received"
  [ $((count - ${received:-0})) -le "$lost" ] || fail "ping $INNER: ${received:-0} of $count answered (at most $lost may be lost)"
}

# iperf_both SECONDS: TCP to the server, then from it (iperf3 -s runs in the server's namespace).
iperf_both() {
  local t=$1
  step "iperf-up-${t}s"
  iperf3 -c "$INNER" -t "$t" -J >"$R/iperf-up.json" 2>&1 || fail "iperf3 to the server failed: $(tail -c 300 "$R/iperf-up.json")"
  note "iperf up $(iperf_mbps "$R/iperf-up.json") Mbit/s"
  step "iperf-down-${t}s"
  iperf3 -c "$INNER" -t "$t" -R -J >"$R/iperf-down.json" 2>&1 || fail "iperf3 from the server failed: $(tail -c 300 "$R/iperf-down.json")"
  note "iperf down $(iperf_mbps "$R/iperf-down.json") Mbit/s"
}

iperf_mbps() {
  # The receiver's figure: end.sum_received.bits_per_second.
  tr -d '\n\t ' <"$1" | sed -n 's/.*"sum_received":{[^}]*"bits_per_second":\([0-9.e+]*\).*/\1/p' | awk '{ printf "%.1f", $1 / 1e6 }'
}

# Everything up in one go (the common case).
connect_all() {
  ipsec_up
  l2tp_up
}

disconnect_all() {
  l2tp_down
  ipsec_down
}

# done_ok: the scenario passed.
done_ok() {
  xfrm_dump "at end"
  step "done"
  exit 0
}
