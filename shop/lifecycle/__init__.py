"""Member lifecycle use cases that read orders and act through the lower apps' services
(journeys, automatic tags, points vesting, referral rewards); lower apps never read orders."""
