# No NAT between client and server: NAT-D matches on the client's side, so
# whether ESP goes raw (protocol 50) or in UDP 4500 is the server's choice
# (it always asks for UDP encapsulation unless told otherwise).
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha1-modp2048!
ESP=aes256-sha1!
connect_all
if ip xfrm state | grep -q "encap type espinudp"; then note "ESP in UDP 4500 (the server asked for encapsulation)"; else note "raw ESP (protocol 50)"; fi
hook sessions | grep -q '"peer":{"address":"10.0.2.15"' || fail "the server does not see the client's own address: $(hook sessions)"
ping_server 10
disconnect_all
done_ok
