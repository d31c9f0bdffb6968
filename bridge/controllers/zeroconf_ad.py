"""Opt-in Zeroconf (Bonjour / mDNS) advert of the OSC service, so TouchOSC lists GrooveBridge.

``serve --zeroconf`` or the setting ``[osc] zeroconf = true`` registers ``_osc._udp`` with the
OSC listen port under the name "GrooveBridge on <host>" (python-zeroconf). Only when OSC
listens on a LAN interface: with the loopback default (``[osc] host = "127.0.0.1"``) no other
device could reach the port, so the advert is refused with one line saying why
(``advert_addresses``). ``host = "0.0.0.0"`` advertises every non-loopback IPv4 address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SERVICE_TYPE = "_osc._udp.local."
_WILDCARDS = ("", "0.0.0.0", "::", "*")


class AdvertRefused(ValueError):
    """Zeroconf cannot (or must not) advertise this OSC address; one line for the user."""


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 interface addresses (ifaddr, as python-zeroconf uses)."""
    import ifaddr

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                addr = ipaddress.ip_address(ip.ip)
                if not addr.is_loopback and str(addr) not in found:
                    found.append(str(addr))
    return found


def advert_addresses(host: str, interfaces: list[str] | None = None) -> list[str]:
    """The IPv4 addresses to advertise for OSC listening on ``host``; ``AdvertRefused`` with the
    reason when there are none (loopback only, no LAN interface, an address not of this machine).
    ``interfaces``: the machine's LAN addresses (``lan_addresses()`` when None)."""
    text = host.strip()
    local = lan_addresses() if interfaces is None else list(interfaces)
    if text in _WILDCARDS:
        if not local:
            raise AdvertRefused("zeroconf: not advertised: this machine has no network interface other than loopback")
        return local
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        try:
            addr = ipaddress.ip_address(socket.gethostbyname(text))
        except (OSError, ValueError):
            raise AdvertRefused(f"zeroconf: not advertised: cannot resolve the OSC host {text!r}") from None
    if addr.is_loopback:
        raise AdvertRefused(
            f"zeroconf: not advertised: OSC listens on {text} (loopback), which no other device can reach; "
            'set [osc] host = "0.0.0.0" (serve --osc-host 0.0.0.0) or this machine\'s LAN address to use a controller on the network')
    if addr.version != 4:
        raise AdvertRefused(f"zeroconf: not advertised: {text} is IPv6; listen on an IPv4 address or 0.0.0.0")
    if str(addr) not in local:
        raise AdvertRefused(f"zeroconf: not advertised: {text} is not an address of this machine "
                            f"(its LAN addresses: {', '.join(local) or 'none'})")
    return [str(addr)]


def service_name(instance: str | None = None) -> str:
    name = instance or f"GrooveBridge on {socket.gethostname().split('.')[0]}"
    return f"{name[:60]}.{SERVICE_TYPE}"


@dataclass
class OscAdvert:
    """One registered ``_osc._udp`` service; ``close()`` unregisters it (a goodbye packet)."""

    port: int
    addresses: list[str]
    instance: str | None = None
    _zc: Any = None
    _info: Any = None

    def start(self) -> str:
        """Register; returns the service name actually used (a clash gets a new name)."""
        from zeroconf import IPVersion, ServiceInfo, Zeroconf

        host = socket.gethostname().split(".")[0] or "groovebridge"
        self._info = ServiceInfo(
            SERVICE_TYPE, service_name(self.instance), port=self.port,
            addresses=[socket.inet_aton(a) for a in self.addresses],
            properties={"app": "GrooveBridge", "prefix": "/groovebridge"}, server=f"{host}.local.")
        self._zc = Zeroconf(interfaces=list(self.addresses), ip_version=IPVersion.V4Only)
        try:
            self._zc.register_service(self._info, allow_name_change=True)
        except Exception:
            self._zc.close()
            self._zc = None
            raise
        return str(self._info.name)

    def close(self) -> None:
        if self._zc is None:
            return
        try:
            self._zc.unregister_service(self._info)
        except Exception as e:  # the network went away: the advert times out by itself
            log.debug("zeroconf unregister: %s", e)
        finally:
            self._zc.close()
            self._zc = None


def start_advert(host: str, port: int, instance: str | None = None) -> tuple[OscAdvert | None, str]:
    """Advertise OSC on ``host:port``: (the advert, a line saying what was advertised) or
    (None, the one-line reason it was not). Never raises for the user's set-up."""
    try:
        addresses = advert_addresses(host)
    except AdvertRefused as e:
        return None, str(e)
    advert = OscAdvert(port, addresses, instance)
    try:
        name = advert.start()
    except Exception as e:  # no multicast route, socket errors: OSC itself still works
        return None, f"zeroconf: not advertised: {e}"
    return advert, f"zeroconf: advertising '{name.removesuffix('.' + SERVICE_TYPE)}' ({SERVICE_TYPE}) on {', '.join(addresses)} port {port}"
