"""Contact-centre ACD engine for FreeSWITCH."""
