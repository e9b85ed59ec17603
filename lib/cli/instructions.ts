/**
 * What `npm start` prints on first run: how to connect each kind of client
 * with this server's values. Clients differ only in where the same four
 * values go (server, pre-shared key, user, password).
 */
export interface ConnectValues {
  server: string
  psk: string
  user: string
  password: string
}

export function connectInstructions(v: ConnectValues): string {
  return `
How to connect (L2TP/IPsec with a pre-shared key):
  Server:          ${v.server}
  Pre-shared key:  ${v.psk}
  User name:       ${v.user}
  Password:        ${v.password}

  Windows 10/11   Settings > Network & Internet > VPN > Add VPN: provider Windows (built-in),
                  type "L2TP/IPsec with pre-shared key", enter the values above.
                  If the server is behind NAT, Windows needs once (then reboot):
                  reg add HKLM\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent /v AssumeUDPEncapsulationContextOnSendRule /t REG_DWORD /d 2 /f
  macOS           System Settings > VPN > Add VPN Configuration > L2TP over IPSec;
                  Authentication Settings: Password = the password, Shared Secret = the key.
  iOS / iPadOS    Settings > General > VPN & Device Management > VPN > Add VPN Configuration > Type L2TP.
  Android         Only on versions that still offer "L2TP/IPSec PSK" (Android 11 and older, some vendors):
                  Settings > Network > VPN > Add, leave "IPSec identifier" empty.
  Linux           NetworkManager-l2tp: nmcli connection add type vpn vpn-type l2tp vpn.data
                  "gateway=${v.server}, ipsec-enabled=yes, ipsec-psk=${v.psk}, user=${v.user}" vpn.secrets "password=${v.password}"
                  or this package: l2tp-ipsec connect --server ${v.server} --psk '${v.psk}' --user ${v.user} --password '${v.password}'
`
}
