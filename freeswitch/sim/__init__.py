"""A FreeSWITCH stand-in speaking the real Event Socket protocol over TCP.

See freeswitch/sim/README.md for what it models and what it looked up in FreeSWITCH's
source. Importing this package starts nothing; ``Simulator.start()`` binds the socket.
"""

from freeswitch.sim.channels import Channel
from freeswitch.sim.dialplan import Dialplan, Extension
from freeswitch.sim.errors import SimulatorError
from freeswitch.sim.events import SimEvent
from freeswitch.sim.originate import AgentPhone
from freeswitch.sim.simulator import Simulator
from freeswitch.sim.sounds import SoundLibrary

__all__ = [
    "AgentPhone",
    "Channel",
    "Dialplan",
    "Extension",
    "SimEvent",
    "Simulator",
    "SimulatorError",
    "SoundLibrary",
]
