"""How a scene's pixels are served (issue 16 item 3): one interface, three paths (in memory, by windows, by tiles)."""
