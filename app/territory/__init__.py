"""The coordinator's set-up of a territory: settings, communes, sites, practitioners, accounts."""
