. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha1-modp2048!
ESP=aes256-sha1!
for round in 1 2 3; do
  connect_all
  hook wait-sessions 1 10 >/dev/null || fail "round $round: the server does not list the session: $(hook sessions)"
  ping_server 5
  disconnect_all
  step "server-cleaned-up-$round"
  hook wait-sessions 0 15 >/dev/null || fail "round $round: the server still lists a session after the disconnect: $(hook sessions)"
done
done_ok
