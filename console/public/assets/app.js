// Reelay console
