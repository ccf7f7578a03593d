"""The SIP edge: the box as an extension on the clinic's PBX (baresip-python; nothing outside this package imports it).

`SipAgent` (agent.py) registers (retrying with capped backoff, its `status` on show), admits inbound
calls only from `[sip] allowed_peers`, and dials out. Each call is a `SipCall` (calls.py) that reads
and writes the box's 16 kHz mono 20 ms frames, whatever codec is on the wire.
"""

from appliance.telephony.sip.agent import SipAgent
from appliance.telephony.sip.calls import IncomingCall, SipCall
from appliance.telephony.sip.common import CODECS, CallEnded, SipError, SipStatus, load_password

__all__ = ["CODECS", "CallEnded", "IncomingCall", "SipAgent", "SipCall", "SipError", "SipStatus", "load_password"]
