import sys

from scim_server.cli import main

sys.exit(main())
