. /interop/guest/lib.sh
AUTHBY=rsasig CERT=pki/client1.pem KEY=pki/client1.key CA=pki/ca.pem
CERT_ID="O=l2tp-ipsec interop, CN=client1.interop.test"
RIGHTID="O=l2tp-ipsec interop, CN=vpn.interop.test"
PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha256-modp2048,aes256-sha1-modp2048!
ESP=aes256-sha1!
connect_all
grep -q "authentication of 'O=l2tp-ipsec interop, CN=vpn.interop.test'.*successful" /var/log/charon.log || note "charon did not log the server's certificate authentication"
ping_server 10
disconnect_all
done_ok
