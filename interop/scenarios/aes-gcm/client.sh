. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha256-modp2048!
ESP=aes256gcm16,aes128gcm16!
connect_all
ip xfrm state | grep -q "rfc4106(gcm(aes))" || fail "the kernel SA is not AES-GCM"
ping_server 10
iperf_both 10
disconnect_all
done_ok
