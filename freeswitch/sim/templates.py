"""Constant parts of FreeSWITCH events and replies, copied from the recordings.

Everything here was read off ``esl-captures/`` (FreeSWITCH 1.10.12): where each event is
fired from (``Event-Calling-*``), the channel-state numbers, the ``variable_*`` sets that a
SIP caller and a SIP agent leg carry, and fixed reply texts. Values that change per call
(uuids, numbers, times, ports) are filled in by :mod:`freeswitch.sim.events`.
"""

from __future__ import annotations

import itertools
import random

# switch_types.h switch_channel_state_t
STATE_NUMBERS: dict[str, int] = {
    "CS_NEW": 0,
    "CS_INIT": 1,
    "CS_ROUTING": 2,
    "CS_SOFT_EXECUTE": 3,
    "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5,
    "CS_PARK": 6,
    "CS_CONSUME_MEDIA": 7,
    "CS_HIBERNATE": 8,
    "CS_RESET": 9,
    "CS_HANGUP": 10,
    "CS_REPORTING": 11,
    "CS_DESTROY": 12,
    "CS_NONE": 13,
}

# (Event-Calling-File, Event-Calling-Function, Event-Calling-Line-Number) per event, as
# recorded; the engine never reads these but a stand-in should look the same.
CALLING: dict[str, tuple[str, str, str]] = {
    "API": ("switch_loadable_module.c", "switch_api_execute", "2954"),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", "1572"),
    "CALL_UPDATE": ("switch_channel.c", "switch_channel_flip_cid", "3277"),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", "3846"),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", "1689"),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", "301"),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", "626"),
    "CHANNEL_DATA": ("mod_commands.c", "uuid_dump_function", "6112"),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", "1584"),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", "2944"),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", "2967"),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", "3445"),
    "CHANNEL_HANGUP_COMPLETE": (
        "switch_core_state_machine.c",
        "switch_core_session_reporting_state",
        "943",
    ),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", "632"),
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", "768"),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", "1002"),
    "CHANNEL_PROGRESS": (
        "switch_channel.c",
        "switch_channel_perform_mark_ring_ready_value",
        "3505",
    ),
    "CHANNEL_PROGRESS_MEDIA": (
        "switch_channel.c",
        "switch_channel_perform_mark_pre_answered",
        "3626",
    ),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", "2408"),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", "1879"),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", "1213"),
    "COMMAND": ("switch_ivr_async.c", "switch_ivr_broadcast", "5731"),
    "CUSTOM_FILESTRING_CLOSE": ("mod_dptools.c", "next_file", "4972"),
    "CUSTOM_FILESTRING_OPEN": ("mod_dptools.c", "next_file", "5031"),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", "677"),
    "HEARTBEAT": ("switch_core.c", "send_heartbeat", "95"),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", "1646"),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", "2020"),
    "PRIVATE_COMMAND": ("switch_ivr.c", "switch_ivr_parse_next_event", "804"),
    "SHUTDOWN": ("switch_core.c", "switch_core_destroy", "3023"),
    "INJECTED": ("mod_event_socket.c", "parse_command", "2164"),
}

# Events that carry the channel's variable_* headers (ESL-NOTES, and every recording).
EVENTS_WITH_VARIABLES = frozenset(
    {
        "CALL_UPDATE",
        "CHANNEL_ANSWER",
        "CHANNEL_BRIDGE",
        "CHANNEL_CREATE",
        "CHANNEL_DATA",
        "CHANNEL_DESTROY",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_PARK",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_UNPARK",
        "PLAYBACK_START",
        "PLAYBACK_STOP",
    }
)

# switch_event.c EVENT_NAMES: what `event`/`nixevent` accept (others are ignored).
EVENT_NAMES = frozenset(
    [
        "CUSTOM",
        "CLONE",
        "CHANNEL_CREATE",
        "CHANNEL_DESTROY",
        "CHANNEL_STATE",
        "CHANNEL_CALLSTATE",
        "CHANNEL_ANSWER",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
        "CHANNEL_BRIDGE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_OUTGOING",
        "CHANNEL_PARK",
        "CHANNEL_UNPARK",
        "CHANNEL_APPLICATION",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "API",
        "LOG",
        "INBOUND_CHAN",
        "OUTBOUND_CHAN",
        "STARTUP",
        "SHUTDOWN",
        "PUBLISH",
        "UNPUBLISH",
        "TALK",
        "NOTALK",
        "SESSION_CRASH",
        "MODULE_LOAD",
        "MODULE_UNLOAD",
        "DTMF",
        "MESSAGE",
        "PRESENCE_IN",
        "NOTIFY_IN",
        "PRESENCE_OUT",
        "PRESENCE_PROBE",
        "MESSAGE_WAITING",
        "MESSAGE_QUERY",
        "ROSTER",
        "CODEC",
        "BACKGROUND_JOB",
        "DETECTED_SPEECH",
        "DETECTED_TONE",
        "PRIVATE_COMMAND",
        "HEARTBEAT",
        "TRAP",
        "ADD_SCHEDULE",
        "DEL_SCHEDULE",
        "EXE_SCHEDULE",
        "RE_SCHEDULE",
        "RELOADXML",
        "NOTIFY",
        "PHONE_FEATURE",
        "PHONE_FEATURE_SUBSCRIBE",
        "SEND_MESSAGE",
        "RECV_MESSAGE",
        "REQUEST_PARAMS",
        "CHANNEL_DATA",
        "GENERAL",
        "COMMAND",
        "SESSION_HEARTBEAT",
        "CLIENT_DISCONNECTED",
        "SERVER_DISCONNECTED",
        "SEND_INFO",
        "RECV_INFO",
        "RECV_RTCP_MESSAGE",
        "SEND_RTCP_MESSAGE",
        "CALL_SECURE",
        "NAT",
        "RECORD_START",
        "RECORD_STOP",
        "PLAYBACK_START",
        "PLAYBACK_STOP",
        "CALL_UPDATE",
        "FAILURE",
        "SOCKET_DATA",
        "MEDIA_BUG_START",
        "MEDIA_BUG_STOP",
        "CONFERENCE_DATA_QUERY",
        "CONFERENCE_DATA",
        "CALL_SETUP_REQ",
        "CALL_SETUP_RESULT",
        "CALL_DETAIL",
        "DEVICE_STATE",
        "TEXT",
        "SHUTDOWN_REQUESTED",
        "ALL",
    ]
)

# The events `myevents` turns on (mod_event_socket.c parse_command).
MYEVENTS_NAMES = frozenset(
    [
        "CHANNEL_ANSWER",
        "CHANNEL_APPLICATION",
        "CHANNEL_BRIDGE",
        "CHANNEL_CREATE",
        "CHANNEL_DATA",
        "CHANNEL_DESTROY",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "CHANNEL_OUTGOING",
        "CHANNEL_PARK",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_STATE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_UNPARK",
        "DETECTED_SPEECH",
        "DTMF",
        "NOTALK",
        "TALK",
    ]
)

# Hang-up causes and their numbers (switch_channel.c CAUSE_CHART); the number is what
# variable_hangup_cause_q850 shows. Anything else is refused as a cause.
_CAUSES = """UNSPECIFIED 0 UNALLOCATED_NUMBER 1 NO_ROUTE_TRANSIT_NET 2 NO_ROUTE_DESTINATION 3
CHANNEL_UNACCEPTABLE 6 CALL_AWARDED_DELIVERED 7 NORMAL_CLEARING 16 USER_BUSY 17
NO_USER_RESPONSE 18 NO_ANSWER 19 SUBSCRIBER_ABSENT 20 CALL_REJECTED 21 NUMBER_CHANGED 22
REDIRECTION_TO_NEW_DESTINATION 23 EXCHANGE_ROUTING_ERROR 25 DESTINATION_OUT_OF_ORDER 27
INVALID_NUMBER_FORMAT 28 FACILITY_REJECTED 29 RESPONSE_TO_STATUS_ENQUIRY 30
NORMAL_UNSPECIFIED 31 NORMAL_CIRCUIT_CONGESTION 34 NETWORK_OUT_OF_ORDER 38
NORMAL_TEMPORARY_FAILURE 41 SWITCH_CONGESTION 42 ACCESS_INFO_DISCARDED 43
REQUESTED_CHAN_UNAVAIL 44 PRE_EMPTED 45 FACILITY_NOT_SUBSCRIBED 50 OUTGOING_CALL_BARRED 52
INCOMING_CALL_BARRED 54 BEARERCAPABILITY_NOTAUTH 57 BEARERCAPABILITY_NOTAVAIL 58
SERVICE_UNAVAILABLE 63 BEARERCAPABILITY_NOTIMPL 65 CHAN_NOT_IMPLEMENTED 66
FACILITY_NOT_IMPLEMENTED 69 SERVICE_NOT_IMPLEMENTED 79 INVALID_CALL_REFERENCE 81
INCOMPATIBLE_DESTINATION 88 INVALID_MSG_UNSPECIFIED 95 MANDATORY_IE_MISSING 96
MESSAGE_TYPE_NONEXIST 97 WRONG_MESSAGE 98 IE_NONEXIST 99 INVALID_IE_CONTENTS 100
WRONG_CALL_STATE 101 RECOVERY_ON_TIMER_EXPIRE 102 MANDATORY_IE_LENGTH_ERROR 103
PROTOCOL_ERROR 111 INTERWORKING 127 SUCCESS 142 ORIGINATOR_CANCEL 487 CRASH 700
SYSTEM_SHUTDOWN 701 LOSE_RACE 702 MANAGER_REQUEST 703 BLIND_TRANSFER 800
ATTENDED_TRANSFER 801 ALLOTTED_TIMEOUT 802 USER_CHALLENGE 803 MEDIA_TIMEOUT 804
PICKED_OFF 805 USER_NOT_REGISTERED 806 PROGRESS_TIMEOUT 807 INVALID_GATEWAY 808
GATEWAY_DOWN 809 INVALID_URL 810 INVALID_PROFILE 811 NO_PICKUP 812 SRTP_READ_ERROR 813"""
Q850: dict[str, int] = dict(zip(_CAUSES.split()[::2], map(int, _CAUSES.split()[1::2]), strict=True))

FREESWITCH_VERSION = "1.10.12-release+git~20260821T141014Z~cc93a683ca~64bit"
STATUS_VERSION_LINE = (
    "FreeSWITCH (Version 1.10.12-release git cc93a68 2026-08-21 14:10:14Z 64bit) is ready"
)

_session_ids = itertools.count(1)


def next_session_id() -> int:
    """FreeSWITCH numbers sessions from start-up; the number shows as variable_session_id."""
    return next(_session_ids)


def sdp(user: str, media_port: int) -> str:
    """A minimal PCMU offer like the recorded ones (variable_switch_r_sdp)."""
    return (
        f"v=0\r\no={user} 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
        "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {media_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    )


def inbound_sip_variables(
    uuid: str,
    number: str,
    name: str,
    destination: str,
    *,
    port: int,
    session_id: int,
    now_us: int,
) -> dict[str, str]:
    """variable_* of a SIP caller on CHANNEL_CREATE (s03: a SIPp caller dialling 7000)."""
    tag = f"{port}SIPpTag{random.randint(1, 999):03d}"
    media_port = 10000 + random.randint(0, 9999)
    return {
        "direction": "inbound",
        "uuid": uuid,
        "call_uuid": uuid,
        "session_id": str(session_id),
        "sip_from_user": number,
        "sip_from_port": str(port),
        "sip_from_uri": f"{number}@127.0.0.1:{port}",
        "sip_from_host": "127.0.0.1",
        "video_media_flow": "disabled",
        "text_media_flow": "disabled",
        "channel_name": f"sofia/internal/{number}@127.0.0.1:{port}",
        "sip_call_id": f"{session_id}-{port}@127.0.0.1",
        "sip_local_network_addr": "127.0.0.1",
        "sip_network_ip": "127.0.0.1",
        "sip_network_port": str(port),
        "sip_invite_stamp": str(now_us),
        "sip_received_ip": "127.0.0.1",
        "sip_received_port": str(port),
        "sip_via_protocol": "udp",
        "sip_from_user_stripped": number,
        "sip_from_tag": tag,
        "sofia_profile_name": "internal",
        "sofia_profile_url": "sip:mod_sofia@127.0.0.1:5060",
        "recovery_profile_name": "internal",
        "sip_full_via": f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{port}-1-0",
        "sip_from_display": name,
        "sip_full_from": f'"{name}" <sip:{number}@127.0.0.1:{port}>;tag={tag}',
        "sip_full_to": f"<sip:{destination}@127.0.0.1:5060>",
        "sip_req_user": destination,
        "sip_req_port": "5060",
        "sip_req_uri": f"{destination}@127.0.0.1:5060",
        "sip_req_host": "127.0.0.1",
        "sip_to_user": destination,
        "sip_to_port": "5060",
        "sip_to_uri": f"{destination}@127.0.0.1:5060",
        "sip_to_host": "127.0.0.1",
        "sip_contact_user": number,
        "sip_contact_port": str(port),
        "sip_contact_uri": f"{number}@127.0.0.1:{port}",
        "sip_contact_host": "127.0.0.1",
        "sip_via_host": "127.0.0.1",
        "sip_via_port": str(port),
        "max_forwards": "70",
        "switch_r_sdp": sdp("caller", media_port),
        "ep_codec_string": "CORE_PCM_MODULE.PCMU@8000h@20i@64000b",
        "rtp_use_codec_string": "PCMU,PCMA",
        "remote_video_media_flow": "inactive",
        "remote_text_media_flow": "inactive",
        "remote_audio_media_flow": "sendrecv",
        "audio_media_flow": "sendrecv",
        "remote_media_ip": "127.0.0.1",
        "remote_media_port": str(media_port),
        "rtp_audio_recv_pt": "0",
        "rtp_use_codec_name": "PCMU",
        "rtp_use_codec_rate": "8000",
        "rtp_use_codec_ptime": "20",
        "rtp_use_codec_channels": "1",
        "rtp_last_audio_codec_string": "PCMU@8000h@20i@1c",
        "read_codec": "PCMU",
        "original_read_codec": "PCMU",
        "read_rate": "8000",
        "original_read_rate": "8000",
        "write_codec": "PCMU",
        "write_rate": "8000",
        "dtmf_type": "rfc2833",
        "endpoint_disposition": "RECEIVED",
    }


def outbound_variables(
    uuid: str, channel_name: str, endpoint: str, session_id: int
) -> dict[str, str]:
    """variable_* of an originated leg on CHANNEL_CREATE (s03: the SIP agent leg)."""
    return {
        "direction": "outbound",
        "is_outbound": "true",
        "uuid": uuid,
        "call_uuid": uuid,
        "session_id": str(session_id),
        "video_media_flow": "disabled",
        "text_media_flow": "disabled",
        "channel_name": channel_name,
        "originate_early_media": "false",
        "originate_endpoint": endpoint,
    }


def outbound_answer_variables(contact_user: str, port: int) -> dict[str, str]:
    """Media variables a SIP agent leg gains when it answers (s03 CHANNEL_ANSWER)."""
    media_port = 10000 + random.randint(0, 9999)
    return {
        "sip_to_user": contact_user,
        "sip_to_port": str(port),
        "sip_to_host": "127.0.0.1",
        "switch_r_sdp": sdp(contact_user, media_port),
        "ep_codec_string": "CORE_PCM_MODULE.PCMU@8000h@20i@64000b",
        "rtp_use_codec_string": "PCMU,PCMA",
        "remote_audio_media_flow": "sendrecv",
        "rtp_use_codec_name": "PCMU",
        "rtp_use_codec_rate": "8000",
        "rtp_use_codec_ptime": "20",
        "read_codec": "PCMU",
        "original_read_codec": "PCMU",
        "read_rate": "8000",
        "original_read_rate": "8000",
        "write_codec": "PCMU",
        "write_rate": "8000",
        "dtmf_type": "rfc2833",
        "remote_media_ip": "127.0.0.1",
        "remote_media_port": str(media_port),
        "endpoint_disposition": "ANSWER",
    }
