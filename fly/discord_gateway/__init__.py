"""The Discord gateway bot (persistent, on Fly): answers DMs and @mentions through the same
`relay_process` job as the interactions endpoint.

    handler   message → the inbox record, or None (bots, ourselves, guild chatter not for us)
    policy    ReconnectPolicy: what to do when the gateway connection ends (resume, identify, stop)
    bot       the discord.py client and the supervising loop that applies the policy
"""
