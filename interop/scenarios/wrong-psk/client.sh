. /interop/guest/lib.sh
PSK=not-the-pre-shared-key RETRANSMIT_TRIES=2
IKE=aes256-sha1-modp2048!
ESP=aes256-sha1!
ipsec_refused
grep -Eq "(AUTHENTICATION_FAILED|INVALID_HASH|INVALID_ID|invalid HASH|integrity check failed|message parsing failed|retransmit|INVALID_PAYLOAD)" /var/log/charon.log || note "charon gave no specific reason"
hook wait-sessions 0 5 >/dev/null || fail "the server lists a session"
done_ok
