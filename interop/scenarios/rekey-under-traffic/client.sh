# strongSwan rekeys Phase 2 (a new Quick Mode) at keylife - margin and, for
# IKEv1, re-authenticates Phase 1 (a new Main Mode, Quick Modes under it) at
# ikelifetime - margin; rekeyfuzz=0% makes the times exact. A ping every
# 0.5 s for 130 s spans two Phase 2 rekeys and the Phase 1 one.
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha1-modp2048!
ESP=aes256-sha1!
IKELIFETIME=100s KEYLIFE=40s MARGIN=15s
STRONGSWAN_EXTRA="reauth=yes"
connect_all
ping_server 260 1 0.5
xfrm_dump "after the rekeys"
n=$(grep -c "CHILD_SA L2TP{[0-9]*} established" /var/log/charon.log)
m=$(grep -c "IKE_SA L2TP\[[0-9]*\] established" /var/log/charon.log)
note "client: $n CHILD_SAs and $m IKE_SAs established"
[ "$n" -ge 3 ] || fail "only $n Quick Modes: Phase 2 was not rekeyed twice"
[ "$m" -ge 2 ] || fail "only $m Main Modes: Phase 1 was not rekeyed"
hook sessions | grep -q '^ok 1 ' || fail "the server does not list exactly one session after the rekeys: $(hook sessions)"
disconnect_all
done_ok
