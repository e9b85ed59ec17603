# vm 1 is alice, vm 2 is bob; each waits until the server lists both sessions,
# so both run at the same time, then pings.
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_AUTH=mschapv2
if [ "$VM" = 1 ]; then PPP_USER=alice PPP_PASSWORD=alice-password-1; else PPP_USER=bob PPP_PASSWORD=bob-password-2; fi
IKE=aes256-sha1-modp2048!
ESP=aes256-sha1!
connect_all
hook wait-sessions 2 90 >/dev/null || fail "the server does not list two sessions: $(hook sessions)"
hook sessions | grep -q '"address":"127.0.0.1".*"address":"127.0.0.1"' || note "the two peers are not both 127.0.0.1: $(hook sessions)"
ping_server 20
# VMs boot and run at different speeds: wait for the other's pings (the hook waits up to 50 s a call).
hook barrier pinged 2 50 >/dev/null || hook barrier pinged 2 50 >/dev/null || fail "the other client did not finish its pings: $(hook sessions)"
hook wait-sessions 2 30 >/dev/null || fail "the other client's session went away while this one pinged: $(hook sessions)"
ping_server 5
# Leave together: whoever finishes first waits for the other's pings.
hook barrier leave 2 50 >/dev/null || hook barrier leave 2 50 >/dev/null || fail "the other client did not finish its last pings: $(hook sessions)"
disconnect_all
done_ok
