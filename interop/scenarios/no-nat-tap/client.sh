# No NAT between client and server: NAT-D matches on both sides and the
# server has ipsec.rawEsp, so ESP goes raw (IP protocol 50), not in UDP 4500.
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha1-modp2048!
ESP=aes256-sha1!
connect_all
if ip xfrm state | grep -q "encap type espinudp"; then fail "ESP in UDP 4500 although there is no NAT and the server has rawEsp: $(ip xfrm state | grep -c espinudp) SAs encapsulated"; fi
note "raw ESP (protocol 50)"
hook sessions | grep -q '"peer":{"address":"10.0.2.15"' || fail "the server does not see the client's own address: $(hook sessions)"
ping_server 10
disconnect_all
done_ok
