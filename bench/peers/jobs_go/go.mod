module jobsgo

go 1.19
