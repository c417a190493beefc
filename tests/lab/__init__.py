"""Pieces of the real-FreeSWITCH lab; tests import it through ``tests.freeswitch_lab``."""
