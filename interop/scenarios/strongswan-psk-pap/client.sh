# The server offers MS-CHAPv2 first; pppd refuses everything but pap and the server follows.
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=pap
IKE=aes256-sha2_256-modp2048,aes256-sha1-modp2048,aes128-sha1-modp1024!
ESP=aes256-sha1,aes128-sha1!
connect_all
hook wait-log 5 "PPP authenticated" | grep -q '"method":"pap"' || fail "the server did not authenticate with pap"
ping_server 10
iperf_both 10
disconnect_all
done_ok
