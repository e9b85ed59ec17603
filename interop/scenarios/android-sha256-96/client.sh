# The proposal says HMAC-SHA2-256 like any other (IKEv1 cannot say more);
# only the ICV length differs. libreswan's sha2-truncbug=yes gives the kernel
# a 96-bit HMAC-SHA-256 exactly as Android 6/7's kernel does. (strongSwan's
# sha256_96 is no imitation: in IKEv1 it is sent without an authentication
# algorithm, which the server rightly refuses.)
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha2_256-modp2048   # libreswan 4.10 is built without MODP1024
ESP=aes256-sha2_256
LIBRESWAN_EXTRA="sha2-truncbug=yes"
ipsec_up
ip xfrm state | grep -q "hmac(sha256).* 96" || fail "the kernel SA is not HMAC-SHA-256-96"
l2tp_up
ping_server 10
disconnect_all
done_ok
