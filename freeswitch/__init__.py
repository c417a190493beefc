"""Everything that speaks FreeSWITCH's Event Socket: parser, client, commands, simulator."""
