# libreswan's own defaults: no ike= or phase2alg=, pfs=no (the server offers no PFS), rightid the server's address.
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
connect_all
ping_server 20
disconnect_all
done_ok
