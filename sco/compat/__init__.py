"""Drop-in front ends with other libraries' signatures over sco's implementations (``sco.compat.byzfl``)."""
