"""Slots and bookings for regulators and pharmacists, public availability, APIs (issue 4)."""
