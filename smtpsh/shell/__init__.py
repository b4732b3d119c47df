"""smtpsh.shell"""
