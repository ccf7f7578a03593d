"""Telephony: the box as an extension on the clinic's PBX.

`sip/` is the SIP edge (baresip-python; the only package that imports it): `SipAgent` registers and
admits calls, each a `SipCall`/`IncomingCall` carrying 16 kHz mono 20 ms frames. `call.py` holds what
a call carries apart from the stack: caller ID and the wire <-> box audio conversion.
"""
