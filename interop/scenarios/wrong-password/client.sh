. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=not-alices-password PPP_AUTH=mschapv2
IKE=aes256-sha1-modp2048!
ESP=aes256-sha1!
ipsec_up
l2tp_refused
hook wait-sessions 0 10 >/dev/null || fail "the server lists a session"
ipsec_down
done_ok
