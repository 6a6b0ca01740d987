"""Member lifecycle jobs that need orders and members together: orders' selectors read the
orders, members' services write the members' side (lower apps never read orders)."""
