"""smtpsh.protocol"""
