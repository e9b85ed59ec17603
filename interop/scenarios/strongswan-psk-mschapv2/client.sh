# A Linux desktop through NetworkManager-l2tp: its strongSwan proposals, MS-CHAPv2.
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha2_256-modp2048,aes256-sha2_256-modp1536,aes256-sha2_256-modp1024,aes256-sha1-modp2048,aes256-sha1-modp1536,aes256-sha1-modp1024,aes256-sha1-ecp384,aes128-sha1-modp1024,aes128-sha1-ecp256,3des-sha1-modp2048,3des-sha1-modp1024!
ESP=aes256-sha1,aes128-sha1,3des-sha1!
connect_all
ping_server 10
iperf_both 10
ping_server 5
disconnect_all
done_ok
