"""Chat-relay intake functions, routed at /functions/v1/* (Supabase's URL convention) by vercel.json."""
