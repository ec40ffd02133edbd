"""The `logs` sink: web access logs, JSON application logs and syslog, as files or over the network.

The vectorized machinery lives beside this module: `formats` turns Arrow columns into log
lines, `rotation` writes them into rotating files, `syslog_transport` delivers them to a
syslog receiver.
"""
