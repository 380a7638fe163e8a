"""Buyer self-service (issue 16): the FAQ (``faq``), the self-service cards by order state (``cards``), the
interactive service window (``window``) and the follow-up and retention messages (``followup``). Each module
holds its rules and its writes; ``buyer`` is the buyer page's HTTP endpoints (the buyer's token as the
credential, like the image upload), ``pages`` the owner's settings pages.

Everything said in a buyer's chat goes through routing's services as buyer or system messages: system
messages start no reply timer and open no human session (``routing.services.post_system_message``)."""
