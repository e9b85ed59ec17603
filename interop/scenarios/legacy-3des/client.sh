. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=3des-sha1-modp1024!
ESP=3des-sha1!
connect_all
ip xfrm state | grep -q "cbc(des3_ede)" || fail "the kernel SA is not 3DES"
ping_server 10
disconnect_all
done_ok
